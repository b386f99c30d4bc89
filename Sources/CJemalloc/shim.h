#ifndef FUNNELPULSE_CJEMALLOC_SHIM_H
#define FUNNELPULSE_CJEMALLOC_SHIM_H
/* Debian's jemalloc (apt: libjemalloc-dev) is built without a symbol prefix: linking it replaces
 * malloc/free for the whole process, librdkafka's allocations included. Only mallctl() is called
 * by name, to report the allocator and its counters. */
#include <jemalloc/jemalloc.h>
#endif
