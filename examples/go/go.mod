module zcopy.dev/examples

go 1.19

require zcopy.dev/zcopy v0.0.0

replace zcopy.dev/zcopy => ../../go
