/* LTTng-UST peer of tools/bench/src/ring-buffer.ts: the per-event cost of the tl_bench:rec32
 * tracepoint, whose payload is 32 bytes (4 x uint64), the same payload tracelab's bench writes.
 * Whether the tracepoint is enabled depends on the session run.sh sets up (enabled: it records
 * into a discard-mode channel; no session: the disabled tracepoint, one load and a branch).
 *
 * Usage: bench EVENTS PASSES. Runs PASSES timed loops of EVENTS/PASSES tracepoint hits and
 * prints the fastest and the median pass in ns per event, plus the number of hits. */
#define TRACEPOINT_DEFINE
#define TRACEPOINT_CREATE_PROBES
#include "tp.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  int passes = argc > 2 ? atoi(argv[2]) : 5;
  if (n <= 0 || passes <= 0 || passes > 100) {
    fprintf(stderr, "usage: bench EVENTS PASSES (PASSES 1..100)\n");
    return 2;
  }
  long per = n / passes;
  double ns[100];
  unsigned long i = 0;
  for (int p = 0; p < passes; p++) {
    double a = now_ns();
    for (long k = 0; k < per; k++, i++) tracepoint(tl_bench, rec32, i, i + 1, i + 2, i + 3);
    ns[p] = (now_ns() - a) / per;
  }
  qsort(ns, passes, sizeof ns[0], cmp);
  printf("ns_per_event_min=%.2f\nns_per_event_median=%.2f\nevents=%ld\n", ns[0], ns[passes / 2], per * passes);
  return 0;
}
