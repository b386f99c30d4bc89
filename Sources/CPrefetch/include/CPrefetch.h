#ifndef FUNNELPULSE_CPREFETCH_H
#define FUNNELPULSE_CPREFETCH_H

/// Asks the CPU to start loading the cache line at `address`: a hint, never a fault, no effect
/// on results. The engine issues it for the hash-table slots an event will probe, so that their
/// cache misses overlap instead of following one another.
static inline __attribute__((always_inline)) void fp_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
