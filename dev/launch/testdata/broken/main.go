// Command broken does not compile: Build's test of a failing build.
package main

func main() { undefinedFunction() }
