// Dispatch from an op's typed attributes to its reference kernel.
#include <type_traits>
#include <variant>

#include "reference/reference.h"

namespace kiln::reference {

Expected<Tensor> run(const OpAttrs& attrs, std::span<const Tensor> inputs) {
  return std::visit(
      [&](const auto& a) -> Expected<Tensor> {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, ConvAttrs>) return conv(a, inputs);
        else if constexpr (std::is_same_v<A, ConvTransposeAttrs>) return conv_transpose(a, inputs);
        else if constexpr (std::is_same_v<A, PoolAttrs>) return pool(a, inputs);
        else if constexpr (std::is_same_v<A, BatchNormAttrs>) return batch_norm(a, inputs);
        else if constexpr (std::is_same_v<A, UnaryAttrs>) return unary(a, inputs);
        else if constexpr (std::is_same_v<A, BinaryAttrs>) return binary(a, inputs);
        else if constexpr (std::is_same_v<A, SoftmaxAttrs>) return softmax(a, inputs);
        else if constexpr (std::is_same_v<A, ConcatAttrs>) return concat(a, inputs);
        else if constexpr (std::is_same_v<A, ResizeAttrs>) return resize(a, inputs);
        else if constexpr (std::is_same_v<A, PadAttrs>) return pad(a, inputs);
        else if constexpr (std::is_same_v<A, ReshapeAttrs>) return reshape(a, inputs);
        else if constexpr (std::is_same_v<A, TransposeAttrs>) return transpose(a, inputs);
        else if constexpr (std::is_same_v<A, MatMulAttrs>) return matmul(a, inputs);
        else if constexpr (std::is_same_v<A, SliceAttrs>) return slice(a, inputs);
        else if constexpr (std::is_same_v<A, ReduceAttrs>) return reduce(a, inputs);
        else if constexpr (std::is_same_v<A, LrnAttrs>) return lrn(a, inputs);
        else {
          static_assert(std::is_same_v<A, std::monostate>, "an op kind has no reference kernel");
          // Identity: the input itself (sharing its buffer).
          if (inputs.empty()) return invalid_argument("identity: expected 1 input, got 0");
          return inputs[0];
        }
      },
      attrs);
}

}  // namespace kiln::reference
