/* Integer dot products for the streaming runtime's w8a8 mode (runtime/native.py loads this with ctypes).

   leanspeech_u8s8_dot_rows(w, stride, rows, count, v, n, out):
       out[i] = sum_k w[rows[i] * stride + k] * v[k]   for i < count, k < n
   with int8 weights, uint8 activations and an exact int32 result (|sum| < 2^31 for n < 66,000). The
   runtime quantizes an activation vector to int8 and adds 128 (uint8), then subtracts 128 * the row's
   weight sum: that is how the fastest x86 instruction for 8-bit dot products (VNNI vpdpbusd,
   unsigned x signed) is fed. Rows are read four at a time so each activation chunk is loaded once.

   One variant per instruction set, chosen once at the first call from what the CPU supports:
   AVX-512 VNNI (64 products per instruction), AVX2 (sign-extend to 16 bits, vpmaddwd: 16 per
   instruction) and portable C. All give the same integers. Built as an optional extension by
   setup.py; without it the runtime does the same arithmetic in numba (slower) and says so.

   Built as a Python extension module only so that setuptools compiles and installs it; it has no
   Python-level functions. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef void (*dot_rows_fn)(const int8_t *, int64_t, const int64_t *, int64_t, const uint8_t *, int64_t, int32_t *);

static void dot_rows_portable(const int8_t *w, int64_t stride, const int64_t *rows, int64_t count,
                              const uint8_t *v, int64_t n, int32_t *out) {
    for (int64_t i = 0; i < count; i++) {
        const int8_t *row = w + rows[i] * stride;
        int32_t acc = 0;
        for (int64_t k = 0; k < n; k++) acc += (int32_t)row[k] * (int32_t)v[k];
        out[i] = acc;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1

/* The four rows' totals as one vector [Σa0, Σa1, Σa2, Σa3]: interleave-and-add halves the lanes twice,
   then the 128-bit halves are added (cheaper than four separate reductions). */
__attribute__((target("avx2"))) static __m128i sum4_epi32_256(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
    __m256i s01 = _mm256_add_epi32(_mm256_unpacklo_epi32(a0, a1), _mm256_unpackhi_epi32(a0, a1));
    __m256i s23 = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, a3), _mm256_unpackhi_epi32(a2, a3));
    __m256i s = _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

__attribute__((target("avx2"))) static void dot_rows_avx2(const int8_t *w, int64_t stride, const int64_t *rows,
                                                            int64_t count, const uint8_t *v, int64_t n, int32_t *out) {
    const int64_t body = n & ~(int64_t)15;
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const int8_t *r0 = w + rows[i] * stride, *r1 = w + rows[i + 1] * stride;
        const int8_t *r2 = w + rows[i + 2] * stride, *r3 = w + rows[i + 3] * stride;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t k = 0; k < body; k += 16) {
            __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(v + k)));
#define MADD(r) _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)((r) + k))), x)
            a0 = _mm256_add_epi32(a0, MADD(r0));
            a1 = _mm256_add_epi32(a1, MADD(r1));
            a2 = _mm256_add_epi32(a2, MADD(r2));
            a3 = _mm256_add_epi32(a3, MADD(r3));
#undef MADD
        }
        _mm_storeu_si128((__m128i *)(out + i), sum4_epi32_256(a0, a1, a2, a3));
        for (int64_t k = body; k < n; k++) {
            out[i] += r0[k] * v[k];
            out[i + 1] += r1[k] * v[k];
            out[i + 2] += r2[k] * v[k];
            out[i + 3] += r3[k] * v[k];
        }
    }
    dot_rows_portable(w, stride, rows + i, count - i, v, n, out + i);
}

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* As sum4_epi32_256, with four 128-bit quarters to add at the end. */
VNNI_TARGET static __m128i sum4_epi32_512(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

VNNI_TARGET static void dot_rows_avx512vnni(const int8_t *w, int64_t stride, const int64_t *rows, int64_t count,
                                            const uint8_t *v, int64_t n, int32_t *out) {
    const int64_t body = n & ~(int64_t)63;
    /* The last partial chunk through masked loads: masked-off bytes read as zero and add nothing. */
    const __mmask64 tail = (n - body) ? (~(__mmask64)0 >> (64 - (n - body))) : 0;
    const __m512i x_tail = _mm512_maskz_loadu_epi8(tail, v + body);
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const int8_t *r0 = w + rows[i] * stride, *r1 = w + rows[i + 1] * stride;
        const int8_t *r2 = w + rows[i + 2] * stride, *r3 = w + rows[i + 3] * stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t k = 0; k < body; k += 64) {
            __m512i x = _mm512_loadu_si512(v + k);
            a0 = _mm512_dpbusd_epi32(a0, x, _mm512_loadu_si512(r0 + k));
            a1 = _mm512_dpbusd_epi32(a1, x, _mm512_loadu_si512(r1 + k));
            a2 = _mm512_dpbusd_epi32(a2, x, _mm512_loadu_si512(r2 + k));
            a3 = _mm512_dpbusd_epi32(a3, x, _mm512_loadu_si512(r3 + k));
        }
        if (tail) {
            a0 = _mm512_dpbusd_epi32(a0, x_tail, _mm512_maskz_loadu_epi8(tail, r0 + body));
            a1 = _mm512_dpbusd_epi32(a1, x_tail, _mm512_maskz_loadu_epi8(tail, r1 + body));
            a2 = _mm512_dpbusd_epi32(a2, x_tail, _mm512_maskz_loadu_epi8(tail, r2 + body));
            a3 = _mm512_dpbusd_epi32(a3, x_tail, _mm512_maskz_loadu_epi8(tail, r3 + body));
        }
        _mm_storeu_si128((__m128i *)(out + i), sum4_epi32_512(a0, a1, a2, a3));
    }
    dot_rows_portable(w, stride, rows + i, count - i, v, n, out + i);
}
#endif

static const char *const NAMES[] = {
#ifdef HAVE_X86
    "avx512vnni", "avx2",
#endif
    "portable"};
static const dot_rows_fn KERNELS[] = {
#ifdef HAVE_X86
    dot_rows_avx512vnni, dot_rows_avx2,
#endif
    dot_rows_portable};
#define N_VARIANTS ((int)(sizeof NAMES / sizeof NAMES[0]))

static int supported(const char *name) {
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx512vnni"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2");
#endif
    return !strcmp(name, "portable");
}

/* The index in `names` (fastest first, "portable" last) of `wanted`, or of the fastest variant this CPU
   runs if `wanted` is NULL; -1 if this CPU or build lacks `wanted`. int8_stem.c picks its variants so too. */
int leanspeech_int8_pick(const char *const *names, int count, const char *wanted) {
    for (int k = 0; k < count; k++)
        if ((!wanted || !strcmp(wanted, names[k])) && supported(names[k])) return k;
    return -1;
}

static int chosen = -1;

/* The variant in use (the fastest this CPU supports unless leanspeech_int8_dot_use chose one). */
const char *leanspeech_int8_dot_variant(void) {
    if (chosen < 0) chosen = leanspeech_int8_pick(NAMES, N_VARIANTS, NULL);
    return NAMES[chosen];
}

/* Use the named variant (tests compare them); returns 0 if this CPU or build does not have it. */
int leanspeech_int8_dot_use(const char *name) {
    const int k = leanspeech_int8_pick(NAMES, N_VARIANTS, name);
    if (k >= 0) chosen = k;
    return k >= 0;
}

void leanspeech_u8s8_dot_rows(const int8_t *w, int64_t stride, const int64_t *rows, int64_t count,
                              const uint8_t *v, int64_t n, int32_t *out) {
    if (chosen < 0) leanspeech_int8_dot_variant();
    KERNELS[chosen](w, stride, rows, count, v, n, out);
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_int8_dot", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__int8_dot(void) { return PyModule_Create(&module); }
