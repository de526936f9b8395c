#include <stddef.h>
/// glibc's heap in use (mallinfo2: uordblks + hblkhd), in bytes.
size_t CTLSKitBenchShim_heap_in_use(void);
