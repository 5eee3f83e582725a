#include "runtime/base/common.h"

#include <system_error>

namespace alisa {

std::string shape_text(const int64_t* dims, size_t rank) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < rank; ++i) out << (i ? ", " : "") << dims[i];
  out << ']';
  return out.str();
}

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

}  // namespace alisa
