// A test index kind registered at run time (toy_index.cpp; docs/adding-an-index.md).
#pragma once

#include "index/vector_index.h"

namespace earshot::testing_util {

extern const IndexKind kToyScanIndexKind;

}  // namespace earshot::testing_util
