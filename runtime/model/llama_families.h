// The families that share LLaMA's decoder and checkpoint layout (RMSNorm, rotary embeddings,
// SwiGLU, grouped-query attention): llama, mistral, qwen2, qwen3. Used by model_spec.cpp only.
#pragma once

#include "runtime/model/config_reader.h"
#include "runtime/model/model_spec.h"

namespace alisa {

// The spec of a config.json whose model_type is `family`'s (not OPT). Throws alisa::Error naming
// the key of an option alisa does not implement.
ModelSpec parse_llama_family(const ConfigReader& config, ModelFamily family);

// An activation by its Hugging Face name (hidden_act, activation_function).
Activation parse_activation(const std::string& name, const std::string& source);

}  // namespace alisa
