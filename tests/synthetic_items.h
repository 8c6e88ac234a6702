// Catalog rows for tests that need a space of random vectors: item i is "item<i>", 1 s long, with
// a normal(0, 1) vector of `dim` floats drawn from a generator seeded by `first` (so the rows of
// one call are repeatable and two calls with different `first` differ). `adjust` may change a
// row (duration, a cluster offset) before it is returned.
// catalog_writer: a second, writable connection to an engine's catalog file, for tests that write
// rows as another process would (Engine::catalog() is read-only).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "catalog/catalog.h"

namespace earshot::testing {

inline std::vector<Catalog::PutRequest> random_put_requests(
    int first, int n, int dim, const std::function<void(int, Catalog::PutRequest&)>& adjust = {}) {
    std::mt19937 rng(static_cast<std::uint32_t>(first + 1));
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<Catalog::PutRequest> batch;
    batch.reserve(static_cast<std::size_t>(n));
    for (int i = first; i < first + n; ++i) {
        Catalog::PutRequest r;
        r.item.path = "item" + std::to_string(i);
        r.item.name = r.item.path;
        r.item.duration_s = 1.0;
        r.vector.resize(static_cast<std::size_t>(dim));
        for (auto& x : r.vector) x = g(rng);
        if (adjust)
            adjust(i, r);
        batch.push_back(std::move(r));
    }
    return batch;
}

inline std::unique_ptr<Catalog> catalog_writer(const std::filesystem::path& db) {
    auto c = Catalog::open(db);
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? std::move(*c) : nullptr;
}

}  // namespace earshot::testing
