module zcopy.dev/zcopy

go 1.19
