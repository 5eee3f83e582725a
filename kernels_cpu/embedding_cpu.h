// Token (and optional learned position) embedding lookup on the CPU, float32.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

// Throws InternalError on a token or position id outside its table.
void embedding_cpu(const EmbeddingParams& p);

}  // namespace alisa
