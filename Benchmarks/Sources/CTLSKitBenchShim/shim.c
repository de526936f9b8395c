#include "CTLSKitBenchShim.h"
#include <malloc.h>

size_t CTLSKitBenchShim_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

#include <valgrind/callgrind.h>

void CTLSKitBenchShim_callgrind_toggle_collect(void) {
    CALLGRIND_TOGGLE_COLLECT;
}
