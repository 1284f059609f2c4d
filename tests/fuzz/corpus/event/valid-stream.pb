
ev-stream-1stream:MODIFY ÈŠëÛ¡4*orders/{"id":42}ZX
orders000000000001"	{"id":42}*{"id":42,"total":10}2{"id":42,"total":12.5}8€‡ëÛ¡4