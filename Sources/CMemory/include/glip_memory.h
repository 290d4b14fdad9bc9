#ifndef GLIP_MEMORY_H
#define GLIP_MEMORY_H

#include <stddef.h>

/* Resizes an anonymous mapping made by mmap, keeping its resident pages: shrinking returns the tail to the system,
   growing adds fresh pages after the kept ones (the mapping may move). Returns NULL where the system has no mremap
   or the call fails; the old mapping is then unchanged. */
void *glip_remap(void *address, size_t old_size, size_t new_size);

#endif
