// LrvizInside: one training step's insides (lrviz/inside.py), measured in one pass after the
// update and written straight into the record's variables.
//
// Why a kernel: a small model's step is a few hundred TensorFlow ops of about 1 µs each, and
// measuring with TensorFlow ops took thirty-odd more a step (reads, reshapes, norms, a row's
// concatenation): +25 % at 64-64-64. This is one op a step, reading the variables in place
// (a read before the update would make the update copy them) and keeping the weights it saw
// last in `before` for the next step's Δθ (docs/benchmarks.md, item 17).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace {

using namespace tensorflow;

REGISTER_OP("LrvizInside")
    .Input("step: int32")              // the record's row to write
    .Input("variables: n * resource")  // the model's, K replicas on the last axis
    .Input("gradients: n * float")
    .Input("before: resource")         // [params × K], flat: the weights before this update; left holding these
    .Input("record: resource")         // [steps, replicas, width]
    .Input("sample: resource")         // [steps, replicas, at least len(picks)]
    .Attr("n: int >= 1")
    .Attr("layer: list(int)")          // each variable's layer
    .Attr("k: int >= 1")
    .Attr("first: int >= 0")           // the model's first replica in the record
    .Attr("quantiles: int >= 0")       // columns after the gradient norm left for the host
    .Attr("picks: list(int)")          // the quantiles' sample: sorted indices into one replica's parameters
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle scalar;
      return c->WithRank(c->input(0), 0, &scalar);
    });

// Writes into a variable's own buffer: the host may still hold the one it read last.
Status Exclusive(OpKernelContext* ctx, Var* var, float** data) {
  Tensor* t = var->tensor();
  if (t->dtype() != DT_FLOAT) return errors::InvalidArgument("LrvizInside writes float32 variables only");
  if (!t->RefCountIsOne()) {
    Tensor copy;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(DT_FLOAT, t->shape(), &copy));
    std::copy_n(t->flat<float>().data(), t->NumElements(), copy.flat<float>().data());
    *t = copy;
  }
  *data = t->flat<float>().data();
  return absl::OkStatus();
}

// One variable of a model alone: Δθ = w - p, sums of squares in SIMD lanes a block at a time,
// into doubles; p then holds w. On x86-64 Linux built for AVX2 too, chosen at load time where
// the CPU has it.
#if defined(__x86_64__) && defined(__ELF__) && !defined(__APPLE__)
__attribute__((target_clones("avx2", "default")))
#endif
void Alone(const float* w, const float* g, float* p, int64_t m, double* dd, double* ww, double* gg, float* most,
           bool* nan) {
  float largest = 0.0f;
  int bad = 0;
  for (int64_t b = 0; b < m; b += 1024) {
    const int64_t end = std::min<int64_t>(m, b + 1024);
    float bd = 0, bw = 0, bg = 0;
#pragma omp simd reduction(+ : bd, bw, bg, bad) reduction(max : largest)
    for (int64_t e = b; e < end; ++e) {
      const float d = w[e] - p[e];
      bd += d * d;
      bw += p[e] * p[e];
      bg += g[e] * g[e];
      const float a = std::fabs(d);
      largest = a > largest ? a : largest;
      bad += d != d;
      p[e] = w[e];
    }
    *dd += bd;
    *ww += bw;
    *gg += bg;
  }
  *most = std::max(*most, largest);
  *nan = *nan || bad;
}

class LrvizInsideOp : public OpKernel {
 public:
  explicit LrvizInsideOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("n", &n_));
    OP_REQUIRES_OK(c, c->GetAttr("layer", &layer_));
    OP_REQUIRES_OK(c, c->GetAttr("k", &k_));
    OP_REQUIRES_OK(c, c->GetAttr("first", &first_));
    OP_REQUIRES_OK(c, c->GetAttr("quantiles", &quantiles_));
    OP_REQUIRES_OK(c, c->GetAttr("picks", &picks_));
    OP_REQUIRES(c, static_cast<int>(layer_.size()) == n_ && *std::min_element(layer_.begin(), layer_.end()) >= 0,
                errors::InvalidArgument("LrvizInside: layer needs one index >= 0 for each variable"));
    OP_REQUIRES(c, std::is_sorted(picks_.begin(), picks_.end()) &&
                       std::adjacent_find(picks_.begin(), picks_.end()) == picks_.end() &&
                       (picks_.empty() || picks_.front() >= 0),
                errors::InvalidArgument("LrvizInside: picks must be distinct indices >= 0, in order"));
    for (int l : layer_) layers_ = std::max(layers_, l + 1);
  }

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES(ctx, TensorShapeUtils::IsScalar(ctx->input(0).shape()),
                errors::InvalidArgument("LrvizInside: step must be a scalar, not ",
                                        ctx->input(0).shape().DebugString()));
    const int64_t k = k_, step = ctx->input(0).scalar<int32>()();
    for (int a = 0; a < n_ + 3; ++a)  // a variable locked twice would wait for itself
      for (int b = std::max(a + 1, n_); b < n_ + 3; ++b) {
        const ResourceHandle &x = HandleFromInput(ctx, 1 + (a < n_ ? a : n_ + a)),
                             &y = HandleFromInput(ctx, 1 + n_ + b);
        OP_REQUIRES(ctx, x.name() != y.name() || x.container() != y.container(),
                    errors::InvalidArgument("LrvizInside: before, record and sample must be variables of their own"));
      }
    core::RefCountPtr<Var> before, record, sample;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 1 + 2 * n_), &before));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 2 + 2 * n_), &record));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 3 + 2 * n_), &sample));
    mutex_lock before_lock(*before->mu()), record_lock(*record->mu()), sample_lock(*sample->mu());
    const TensorShape rs = record->tensor()->shape(), ss = sample->tensor()->shape();
    OP_REQUIRES(ctx, rs.dims() == 3 && ss.dims() == 3 && rs.dim_size(0) == ss.dim_size(0) &&
                         rs.dim_size(1) == ss.dim_size(1),
                errors::InvalidArgument("LrvizInside: the record ", rs.DebugString(), " and the sample ",
                                        ss.DebugString(), " must be [steps, replicas, ...] alike"));
    const int64_t width = rs.dim_size(2), room = ss.dim_size(2);
    OP_REQUIRES(ctx, 0 <= step && step < rs.dim_size(0),
                errors::InvalidArgument("LrvizInside: the record ", rs.DebugString(), " has no room for step ", step));
    OP_REQUIRES(ctx, first_ + k <= rs.dim_size(1),
                errors::InvalidArgument("LrvizInside: the record ", rs.DebugString(), " has no replicas ", first_,
                                        " to ", first_ + k - 1));
    OP_REQUIRES(ctx, width >= 2 + quantiles_ + layers_ && room >= static_cast<int64_t>(picks_.size()),
                errors::InvalidArgument("LrvizInside: the record ", rs.DebugString(), " or the sample ",
                                        ss.DebugString(), " is too narrow for ", layers_, " layers and ",
                                        picks_.size(), " picks"));
    float *prev, *rows, *kept;
    OP_REQUIRES_OK(ctx, Exclusive(ctx, before.get(), &prev));
    OP_REQUIRES_OK(ctx, Exclusive(ctx, record.get(), &rows));
    OP_REQUIRES_OK(ctx, Exclusive(ctx, sample.get(), &kept));
    const int64_t params = before->tensor()->NumElements() / k;
    OP_REQUIRES(ctx, picks_.empty() || picks_.back() < params,
                errors::InvalidArgument("LrvizInside: pick ", picks_.empty() ? 0 : picks_.back(),
                                        " is beyond the model's ", params, " parameters"));
    std::vector<double> dd(layers_ * k, 0.0), ww(layers_ * k, 0.0), gg(k, 0.0);
    std::vector<float> most(k, 0.0f);
    std::vector<char> nan(k, 0);
    float* out = kept + (step * ss.dim_size(1) + first_) * room;  // this step's first replica's sample
    int64_t start = 0;
    size_t s = 0;  // the next pick
    for (int j = 0; j < n_; ++j) {
      core::RefCountPtr<Var> var;
      OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 1 + j), &var));
      tf_shared_lock var_lock(*var->mu());
      const Tensor &wt = *var->tensor(), &gt = ctx->input(1 + n_ + j);
      OP_REQUIRES(ctx, k == 1 || (wt.dims() >= 1 && wt.dim_size(wt.dims() - 1) == k),
                  errors::InvalidArgument("LrvizInside: variable ", j, " ", wt.shape().DebugString(),
                                          " does not hold its ", k, " replicas on its last axis"));
      const int64_t m = wt.NumElements() / k;
      OP_REQUIRES(ctx, wt.dtype() == DT_FLOAT && wt.shape() == gt.shape() && start + m <= params,
                  errors::InvalidArgument("LrvizInside: variable ", j, " ", wt.shape().DebugString(),
                                          " does not match its gradient ", gt.shape().DebugString(),
                                          " or the weights kept before"));
      const float* w = wt.flat<float>().data();
      const float* g = gt.flat<float>().data();
      float* p = prev + start * k;
      for (; s < picks_.size() && picks_[s] < start + m; ++s)  // before p is overwritten
        for (int64_t r = 0; r < k; ++r) {
          const int64_t e = (picks_[s] - start) * k + r;
          out[r * room + s] = std::fabs(w[e] - p[e]);
        }
      const int64_t l = layer_[j];
      if (k == 1) {
        bool bad = nan[0];
        Alone(w, g, p, m, &dd[l], &ww[l], &gg[0], &most[0], &bad);
        nan[0] = bad;
      } else {
        double* dl = &dd[l * k];
        double* wl = &ww[l * k];
        for (int64_t i = 0; i < m; ++i) {
          const float *wi = w + i * k, *gi = g + i * k;
          float* pi = p + i * k;
          for (int64_t r = 0; r < k; ++r) {
            const float d = wi[r] - pi[r];
            dl[r] += static_cast<double>(d) * d;
            wl[r] += static_cast<double>(pi[r]) * pi[r];
            gg[r] += static_cast<double>(gi[r]) * gi[r];
            most[r] = std::max(most[r], std::fabs(d));
            nan[r] = nan[r] || d != d;
            pi[r] = wi[r];
          }
        }
      }
      start += m;
    }
    OP_REQUIRES(ctx, start == params, errors::InvalidArgument("LrvizInside: the weights kept before are ",
                                                              params, " a replica, the variables ", start));
    const float none = std::numeric_limits<float>::quiet_NaN();
    for (int64_t r = 0; r < k; ++r) {
      std::fill(out + r * room + picks_.size(), out + (r + 1) * room, none);  // padding to the widest block's
      float* row = rows + (step * rs.dim_size(1) + first_ + r) * width;
      std::fill(row, row + width, none);  // the quantiles, and layers the model lacks
      row[0] = std::sqrt(gg[r]);
      row[1 + quantiles_] = nan[r] ? none : most[r];
      for (int64_t l = 0; l < layers_; ++l) row[2 + quantiles_ + l] = std::sqrt(dd[l * k + r] / ww[l * k + r]);
    }
  }

 private:
  int n_, k_, first_, quantiles_, layers_ = 0;
  std::vector<int> layer_, picks_;
};

REGISTER_KERNEL_BUILDER(Name("LrvizInside").Device(DEVICE_CPU), LrvizInsideOp);

}  // namespace
