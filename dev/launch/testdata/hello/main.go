// Command hello prints hello: a main package for Build's test.
package main

import "fmt"

func main() { fmt.Println("hello") }
