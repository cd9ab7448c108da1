// Package launch holds what every launcher of vidpipe's processes shares
// — the dev stack, the servers, the end-to-end tests, the benchmarks and
// the services' own tests: building Go binaries ([Build]), picking free
// ports on 127.0.0.1 ([FreePort], [FreeAddr], [FreePorts], [FreePortRun])
// and waiting until a URL answers 200 ([WaitHTTP], [HTTPOK]). Starting and
// stopping the processes themselves is platform/procgroup's job.
package launch
