#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stdint.h>

/// The number of allocations (malloc, calloc, realloc, aligned allocations) since the process
/// started, counted by the interposed allocator functions in MallocCounter.c.
uint64_t webraft_allocation_count(void);

#endif
