// The machine's arithmetic peak, measured: fp32 FMA (AVX-512 vfmadd231ps), bf16 dot products
// (vdpbf16ps) and int8 dot products (vpdpbusd), on every core, with enough independent
// accumulators to cover the instruction latency. `kiln bench --profile --peak-gflops X`
// reports each step's share of the fp32 figure.
//
//   build/peak [--threads 2] [--ms 300] [--json]
//
// Why measure: the nominal figure (cores x clock x FMA units x 32 flops) is not what a VM
// with AVX-512 on double-pumped 256-bit units (Zen 4) or a varying clock delivers.
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

// Each kernel runs `iters` rounds of 12 independent accumulator updates (12 > latency x
// pipes for the FMA units of current x86 cores) and returns a value so nothing is elided.
// The round is unrolled by hand so the accumulators stay in registers at any -O level.
#define KILN_TWELVE(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11)
__attribute__((target("avx512f"))) float fma_kernel(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
#define KILN_FMA(i) a[i] = _mm512_fmadd_ps(a[i], x, y);
  for (long k = 0; k < iters; ++k) { KILN_TWELVE(KILN_FMA) }
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) float bf16_kernel(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_setzero_ps();
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
#define KILN_BF16(i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
  for (long k = 0; k < iters; ++k) { KILN_TWELVE(KILN_BF16) }
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) float int8_kernel(long iters) {
  __m512i a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_setzero_si512();
  const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(1);
#define KILN_VNNI(i) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
  for (long k = 0; k < iters; ++k) { KILN_TWELVE(KILN_VNNI) }
  __m512i s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, a[i]);
  return static_cast<float>(_mm512_reduce_add_epi32(s));
}

// Operations per kernel round: 12 instructions x 16 lanes x (2 for fp32 FMA, 4 for the bf16
// pair-dot: 2 multiplies + 2 adds, 8 for the int8 quad-dot).
double measure(float (*kernel)(long), double ops_per_round, int threads, int ms) {
  const long chunk = 1 << 20;
  double best = 0;
  volatile float sink = 0;
  for (int rep = 0; rep < 3; ++rep) {
    long rounds = 0;
    auto t0 = Clock::now();
    auto deadline = t0 + std::chrono::milliseconds(ms / 3 + 1);
#pragma omp parallel num_threads(threads) reduction(+ : rounds)
    {
      float local = 0;
      while (Clock::now() < deadline) {
        local += kernel(chunk);
        rounds += chunk;
      }
      sink = sink + local;
    }
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(rounds) * ops_per_round / s / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads(), ms = 300;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--ms" && i + 1 < argc) ms = std::atoi(argv[++i]);
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr, "usage: peak [--threads N] [--ms 300] [--json]\n");
      return 2;
    }
  }
  __builtin_cpu_init();
  double fp32 = __builtin_cpu_supports("avx512f") ? measure(fma_kernel, 12.0 * 16 * 2, threads, ms) : 0;
  double bf16 = __builtin_cpu_supports("avx512bf16") ? measure(bf16_kernel, 12.0 * 16 * 4, threads, ms) : 0;
  double int8 = __builtin_cpu_supports("avx512vnni") ? measure(int8_kernel, 12.0 * 16 * 8, threads, ms) : 0;
  if (json) {
    std::printf("{\"threads\":%d,\"fp32_gflops\":%.1f,\"bf16_gflops\":%.1f,\"int8_gops\":%.1f}\n", threads, fp32, bf16,
                int8);
  } else {
    std::printf("threads %d\nfp32 FMA (AVX-512)    %8.1f GFLOP/s\nbf16 dot (vdpbf16ps)  %8.1f GFLOP/s\n"
                "int8 dot (vpdpbusd)   %8.1f GOP/s\n",
                threads, fp32, bf16, int8);
  }
  return 0;
}
