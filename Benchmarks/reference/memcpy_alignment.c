// How fast glibc's memcpy copies one TLS record's worth of bytes (16 KiB, in cache) when the
// source and destination start at different offsets from a 64-byte boundary. On the AMD EPYC
// of the benchmark machine with glibc 2.36, copies above glibc's rep_movsb_threshold (2112
// bytes there) use `rep movsb`, which runs at a few GB/s unless source and destination are
// alike in alignment; below the threshold, or with a higher threshold
// (GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=1048576), it runs at tens of GB/s.
// OpenSSL 3.0 copies each record's plaintext into its write buffer at an 8-byte-aligned
// offset, so this decides a large share of its bulk cost (results/side-by-side-profile.md).
//
//   cc -O2 -o memcpy_alignment memcpy_alignment.c && ./memcpy_alignment
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    enum { size = 16384, rounds = 100000 };
    unsigned char *source = aligned_alloc(4096, size + 4096);
    unsigned char *destination = aligned_alloc(4096, size + 4096);
    if (source == NULL || destination == NULL) return 1;
    memset(source, 1, size + 4096);
    memset(destination, 0, size + 4096);
    static const int sourceOffsets[] = {0, 3};
    static const int destinationOffsets[] = {0, 5, 8, 16, 32, 64};
    for (size_t s = 0; s < sizeof sourceOffsets / sizeof *sourceOffsets; s++) {
        for (size_t d = 0; d < sizeof destinationOffsets / sizeof *destinationOffsets; d++) {
            unsigned char *from = source + sourceOffsets[s], *to = destination + destinationOffsets[d];
            double start = now();
            for (int i = 0; i < rounds; i++) {
                memcpy(to, from, size);
                __asm__ volatile("" : : "r"(to) : "memory");  // keep every copy
            }
            double seconds = now() - start;
            printf("source +%d, destination +%2d: %6.1f GB/s\n", sourceOffsets[s], destinationOffsets[d],
                   (double)rounds * size / seconds / 1e9);
        }
    }
    free(source);
    free(destination);
    return 0;
}
