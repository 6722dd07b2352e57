// Plans for input shapes other than a model's own, most recently used first, a few at most:
// shared by Model and Engine, which each keep one list per model.
//
//   kiln::ShapePlans<Entry> plans(4);                // Entry has `std::map<std::string, Shape> shapes`
//   if (Entry* e = plans.find(shapes)) ...;          // and is now the most recent
//   Entry& e = plans.add(Entry{shapes, ...});        // the least recent beyond 4 is dropped
#pragma once

#include <list>
#include <map>
#include <string>

#include "kiln/tensor.h"

namespace kiln {

template <typename Entry>
class ShapePlans {
 public:
  explicit ShapePlans(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  Entry* find(const std::map<std::string, Shape>& shapes) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->shapes == shapes) {
        entries_.splice(entries_.begin(), entries_, it);
        return &entries_.front();
      }
    return nullptr;
  }
  Entry& add(Entry e) {
    entries_.push_front(std::move(e));
    while (entries_.size() > capacity_) entries_.pop_back();
    return entries_.front();
  }
  void clear() { entries_.clear(); }

 private:
  size_t capacity_;
  std::list<Entry> entries_;
};

}  // namespace kiln
