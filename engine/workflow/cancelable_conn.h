// The connection a stop request cancels the query of: the running phase sets
// it (null between queries), a stop request from another thread cancels its
// query. Not owned.
//
// Thread-safety: every method may be called from any thread.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_CANCELABLE_CONN_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_CANCELABLE_CONN_H_

#include <mutex>

#include "common/pg.h"

namespace shadowcopy::workflow {

class CancelableConn {
 public:
  void Set(PgConn* conn) {
    std::lock_guard<std::mutex> lock(mu_);
    conn_ = conn;
  }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_ != nullptr) conn_->Cancel();
  }

 private:
  std::mutex mu_;
  PgConn* conn_ = nullptr;  // guarded by mu_
};

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_CANCELABLE_CONN_H_
