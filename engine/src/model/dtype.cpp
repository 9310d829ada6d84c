// dtype names (the safetensors spellings) and IEEE half <-> single conversion.
// f32_to_f16 rounds to nearest even, keeps NaN quiet and saturates to infinity past 65504;
// subnormal halves are produced and read exactly. bf16 lives inline in dtype.h.
#include "model/dtype.h"

namespace tome {

const char* dtype_name(dtype t) {
  switch (t) {
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::i8: return "I8";
  }
  return "?";
}

bool dtype_from_name(const std::string& name, dtype* out) {
  static constexpr struct {
    const char* name;
    dtype type;
  } k_names[] = {
      {"F32", dtype::f32}, {"F16", dtype::f16}, {"BF16", dtype::bf16}, {"I8", dtype::i8}};
  for (const auto& n : k_names) {
    if (name == n.name) {
      if (out) *out = n.type;
      return true;
    }
  }
  return false;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);  // inf or NaN (payload kept)
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    u = sign;  // signed zero
  } else {
    // Subnormal half: value = mant * 2^-24. Normalise the mantissa.
    uint32_t e = 113;  // exponent of 2^-14 in f32 bias, minus the shifts below
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    u = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // NaN: keep the top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= 0x477ff000u) {  // rounds to >= 65520 -> infinity (also inf itself)
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (abs < 0x38800000u) {               // below 2^-14: subnormal half or zero
    if (abs < 0x33000000u) return sign;  // < 2^-25: rounds to zero (2^-25 ties to even = 0)
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    // value = mant * 2^(exp-150) and the half subnormal unit is 2^-24, so q = mant >> (126-exp).
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias and round the 13 dropped bits to nearest even (may carry into exponent).
  uint32_t v = abs - 0x38000000u;  // exponent 127 -> 15
  v += 0xfffu + ((v >> 13) & 1u);
  return static_cast<uint16_t>(sign | (v >> 13));
}

void to_f32(const void* src, dtype t, float* dst, size_t n) {
  if (n == 0) return;  // src may be null then (memcpy would not allow it)
  const auto* p = static_cast<const uint8_t*>(src);
  switch (t) {
    case dtype::f32: std::memcpy(dst, p, n * 4); return;
    case dtype::f16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case dtype::bf16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case dtype::i8:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      return;
  }
}

}  // namespace tome
