
ev-bad*badÿş