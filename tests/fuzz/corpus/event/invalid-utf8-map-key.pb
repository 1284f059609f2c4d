
ev-bad2
À¯v