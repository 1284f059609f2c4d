
$7f9c1d2e-0000-4000-8000-000000000001s3:ObjectCreated:Put û‡ëÛ¡4*photos/2026/cat.jpg2
traceabc123Rz
photos2026/cat.jpgÕø" 9b2cf535f27731c974343645a398532820055AED6DCD90281E5:
image/jpegBObjectCreated:PutJ	eu-w