
ev-bad{|