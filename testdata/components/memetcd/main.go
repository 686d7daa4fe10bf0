package main

import "github.com/tinykube/tinykube/plugins"

func main() { plugins.Serve(New()) }
