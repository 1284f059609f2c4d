
ev-ünï-🚀s3:ObjectCreated:Put*bücket/ключ/日本/🐱R
bücketключ/日本/🐱