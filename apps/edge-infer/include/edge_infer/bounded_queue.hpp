// A bounded, closable multi-producer/multi-consumer queue: the hand-off between the decode
// thread and the inference thread. push() blocks while the queue is full (back-pressure keeps
// memory flat on long streams); push_latest() never blocks: when full it drops the oldest item
// (a live source cannot be paused); pop() blocks while it is empty and returns nullopt once
// the queue is closed and drained.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace edge_infer {

template <typename T>
class BoundedQueue {
public:
    explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {
        if (capacity == 0) throw std::invalid_argument("queue capacity must be at least 1");
    }

    // false when the queue was closed (the consumer gave up): the producer should stop
    bool push(T item) {
        std::unique_lock<std::mutex> lock(mutex_);
        not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
        if (closed_) return false;
        items_.push_back(std::move(item));
        high_water_ = std::max(high_water_, items_.size());
        not_empty_.notify_one();
        return true;
    }

    // false when the queue was closed; `dropped` counts the items evicted to make room
    bool push_latest(T item, long long& dropped) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return false;
        if (items_.size() >= capacity_) {
            items_.pop_front();
            ++dropped;
        }
        items_.push_back(std::move(item));
        high_water_ = std::max(high_water_, items_.size());
        not_empty_.notify_one();
        return true;
    }

    std::optional<T> pop() {
        std::unique_lock<std::mutex> lock(mutex_);
        not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
        if (items_.empty()) return std::nullopt;
        T item = std::move(items_.front());
        items_.pop_front();
        not_full_.notify_one();
        return item;
    }

    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        not_empty_.notify_all();
        not_full_.notify_all();
    }

    std::size_t capacity() const { return capacity_; }
    std::size_t high_water() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return high_water_;
    }

private:
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_, not_full_;
    std::deque<T> items_;
    std::size_t high_water_ = 0;
    bool closed_ = false;
};

}  // namespace edge_infer
