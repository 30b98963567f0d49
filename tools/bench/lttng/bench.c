/* LTTng-UST peer of tools/bench/src/ring-buffer.ts: per-event cost of an enabled tracepoint
 * with a 32-byte payload (4 x uint64), discard mode. Built and run by run.sh. */
#define TRACEPOINT_DEFINE
#define TRACEPOINT_CREATE_PROBES
#include "tp.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) tracepoint(tl_bench, rec32, i, i + 1, i + 2, i + 3);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ns_per_event=%.2f\n", ns / n);
  return 0;
}
