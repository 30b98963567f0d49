#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER tl_bench
#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./tp.h"
#if !defined(TL_BENCH_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define TL_BENCH_TP_H
#include <lttng/tracepoint.h>
TRACEPOINT_EVENT(tl_bench, rec32,
  TP_ARGS(unsigned long, a, unsigned long, b, unsigned long, c, unsigned long, d),
  TP_FIELDS(ctf_integer(uint64_t, a, a) ctf_integer(uint64_t, b, b) ctf_integer(uint64_t, c, c) ctf_integer(uint64_t, d, d)))
#endif
#include <lttng/tracepoint-event.h>
