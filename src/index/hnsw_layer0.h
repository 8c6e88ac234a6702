#pragma once

// Layer-0 reachability of an hnswlib graph, shared by the index's reachability repair and the
// benchmark's unreachable-element count for plain hnswlib (whose copy of hnswlib lives in a
// namespace of its own, hence a template over the graph type rather than hnswlib's names).

#include <cstddef>
#include <vector>

namespace earshot::detail {

// Marks reached[i] = 1 for every element that a layer-0 path from `from` reaches (from included)
// and that was not marked yet, and returns how many it marked. Depth-first; `todo` is scratch.
template <typename Graph, typename Id>
std::size_t flood_layer0(const Graph& h,
                         Id from,
                         std::vector<char>& reached,
                         std::vector<Id>& todo) {
    if (reached[from])
        return 0;
    std::size_t marked = 1;
    reached[from] = 1;
    todo.clear();
    todo.push_back(from);
    while (!todo.empty()) {
        const Id c = todo.back();
        todo.pop_back();
        auto* data = h.get_linklist0(c);
        const std::size_t count = h.getListCount(data);
        const auto* links = reinterpret_cast<const Id*>(data + 1);
        for (std::size_t j = 0; j < count; ++j) {
            if (!reached[links[j]]) {
                reached[links[j]] = 1;
                ++marked;
                todo.push_back(links[j]);
            }
        }
    }
    return marked;
}

}  // namespace earshot::detail
