s3:ObjectCreated:PutRz
photos2026/cat.jpgÕø" 9b2cf535f27731c974343645a398532820055AED6DCD90281E5:
image/jpegBObjectCreated:PutJ	eu-west-1