#include <stddef.h>
/// glibc's heap in use (mallinfo2: uordblks + hblkhd), in bytes.
size_t CTLSKitBenchShim_heap_in_use(void);
/// Switches callgrind's event collection on or off (CALLGRIND_TOGGLE_COLLECT); a few
/// instructions that do nothing outside valgrind. For runs with --collect-atstart=no.
void CTLSKitBenchShim_callgrind_toggle_collect(void);
