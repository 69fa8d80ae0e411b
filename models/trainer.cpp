#include "models/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>
// after torch/types.h: clip_grad.h relies on torch::Tensor being declared
#include <torch/nn/utils/clip_grad.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "models/data_parallel.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"

namespace caig {
namespace {

// The optimiser's state map is keyed by the parameter's TensorImpl: as a string in LibTorch 1.x,
// as the pointer itself in later versions.
template <typename Key>
Key stateKey(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;  // what c10::guts::to_string writes
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace

double cosineWarmupFactor(int64_t step, int64_t warmupSteps, int64_t totalSteps) {
  if (step < warmupSteps) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmupSteps));
  const double progress = static_cast<double>(step - warmupSteps) /
                          static_cast<double>(std::max<int64_t>(1, totalSteps - warmupSteps));
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

struct Trainer::Impl {
  TrainerOptions options;
  std::vector<std::pair<std::string, at::Tensor>> params;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t step = 0;
  DataParallel* parallel = nullptr;

  using StateMap = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>;
  using Key = typename StateMap::key_type;
};

Trainer::Trainer(std::vector<std::pair<std::string, at::Tensor>> parameters, const TrainerOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (parameters.empty()) throw std::invalid_argument("nothing to train");
  if (options.gradientAccumulation < 1) throw std::invalid_argument("gradient accumulation must be >= 1");
  std::set<std::string> names;
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : parameters) {
    if (!names.insert(name).second) throw std::invalid_argument("duplicate trainable tensor name " + name);
    if (!t.requires_grad()) throw std::invalid_argument("trainable tensor " + name + " does not require grad");
    tensors.push_back(t);
  }
  impl_->options = options;
  impl_->params = std::move(parameters);
  impl_->optimizer = std::make_unique<torch::optim::AdamW>(
      tensors, torch::optim::AdamWOptions(options.learningRate)
                   .betas({options.beta1, options.beta2})
                   .eps(options.eps)
                   .weight_decay(options.weightDecay));
}
Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;

const TrainerOptions& Trainer::options() const { return impl_->options; }
int64_t Trainer::step() const { return impl_->step; }

double Trainer::learningRateAt(int64_t step) const {
  const auto& o = impl_->options;
  return o.learningRate * cosineWarmupFactor(step, o.warmupSteps, o.totalSteps);
}

StepReport Trainer::trainStep(const std::function<MicroBatch(int64_t)>& microBatch, int64_t microBatches) {
  const auto start = std::chrono::steady_clock::now();
  const auto& o = impl_->options;
  const int64_t n = microBatches < 0 ? o.gradientAccumulation : microBatches;
  if (n < 1) throw std::invalid_argument("a step needs at least one micro-batch");
  // Per-step seeds: a resumed run draws the same dropout masks as an uninterrupted one.
  const c10::Device device = impl_->params.front().second.device();
  {
    at::Generator gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(o.seed * 1000003u + static_cast<uint64_t>(impl_->step) + 1u);
  }
  impl_->optimizer->zero_grad();
  double loss = 0.0;
  int64_t tokens = 0;
  for (int64_t k = 0; k < n; ++k) {
    MicroBatch mb = microBatch(k);
    if (!mb.loss.defined()) {
      if (!impl_->parallel) throw std::logic_error("a micro-batch returned no loss");
      continue;  // none of this micro-batch's records is on this rank
    }
    if (mb.loss.numel() != 1) throw std::logic_error("a micro-batch must return a scalar loss");
    if (mb.loss.requires_grad()) (mb.loss / static_cast<double>(n)).backward();
    loss += mb.loss.item<double>() / static_cast<double>(n);
    tokens += mb.tokens;
  }
  std::vector<at::Tensor> tensors;
  for (const auto& p : impl_->params) tensors.push_back(p.second);
  double communication = 0.0;
  if (impl_->parallel) {
    // One all-reduce for the whole accumulation window: the gradients (zeros where nothing ran
    // here) and the loss and token counts, summed; every rank then clips and steps alike.
    const double before = impl_->parallel->communicationSeconds();
    std::vector<at::Tensor> reduce;
    for (auto& t : tensors) {
      if (!t.grad().defined()) t.mutable_grad() = at::zeros_like(t);
      reduce.push_back(t.grad());
    }
    reduce.push_back(at::tensor({loss, static_cast<double>(tokens)}, at::TensorOptions().dtype(at::kDouble)));
    impl_->parallel->allReduceSum(reduce);
    const at::Tensor totals = reduce.back();
    loss = totals[0].item<double>();
    tokens = static_cast<int64_t>(std::llround(totals[1].item<double>()));
    communication = impl_->parallel->communicationSeconds() - before;
  }
  double norm = 0.0;
  if (o.maxGradNorm > 0.0) {
    norm = torch::nn::utils::clip_grad_norm_(tensors, o.maxGradNorm);
  } else {
    for (const auto& t : tensors)
      if (t.grad().defined()) norm += t.grad().to(at::kDouble).pow(2).sum().item<double>();
    norm = std::sqrt(norm);
  }
  const double lr = learningRateAt(impl_->step);
  for (auto& group : impl_->optimizer->param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  impl_->optimizer->step();
  ++impl_->step;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  StepReport r;
  r.step = impl_->step;
  r.loss = loss;
  r.learningRate = lr;
  r.tokensPerSecond = seconds > 0.0 ? static_cast<double>(tokens) / seconds : 0.0;
  r.gradNorm = norm;
  r.communicationSeconds = communication;
  return r;
}

void Trainer::setDataParallel(DataParallel* parallel) {
  impl_->parallel = parallel;
}

void Trainer::broadcastState(DataParallel& parallel, int root) {
  auto& state = impl_->optimizer->state();
  const auto count = static_cast<int64_t>(impl_->params.size());
  // [trainer step, per tensor: has AdamW state, per tensor: its step]
  at::Tensor steps = at::zeros({1 + 2 * count}, at::TensorOptions().dtype(at::kLong));
  auto* st = steps.data_ptr<int64_t>();
  st[0] = impl_->step;
  for (int64_t i = 0; i < count; ++i) {
    const auto it = state.find(stateKey<Impl::Key>(impl_->params[static_cast<std::size_t>(i)].second));
    if (it == state.end()) continue;
    st[1 + i] = 1;
    st[1 + count + i] = static_cast<const torch::optim::AdamWParamState&>(*it->second).step();
  }
  std::vector<at::Tensor> header{steps};
  parallel.broadcast(header, root);
  st = steps.data_ptr<int64_t>();
  std::vector<at::Tensor> tensors;
  for (int64_t i = 0; i < count; ++i) {
    const at::Tensor& p = impl_->params[static_cast<std::size_t>(i)].second;
    const auto key = stateKey<Impl::Key>(p);
    if (st[1 + i] == 0) {
      state.erase(key);
    } else {
      auto it = state.find(key);
      if (it == state.end()) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        it = state.emplace(key, std::move(fresh)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(st[1 + count + i]);
      tensors.push_back(s.exp_avg());
      tensors.push_back(s.exp_avg_sq());
    }
    tensors.push_back(p);
  }
  parallel.broadcast(tensors, root);
  impl_->step = st[0];
}

void Trainer::saveOptimizerState(const std::filesystem::path& file) const {
  io::NamedTensors out;
  auto& state = impl_->optimizer->state();
  for (const auto& [name, t] : impl_->params) {
    const auto it = state.find(stateKey<Impl::Key>(t));
    if (it == state.end()) continue;  // no step taken yet
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    out.emplace_back(name + ".exp_avg", s.exp_avg());
    out.emplace_back(name + ".exp_avg_sq", s.exp_avg_sq());
    out.emplace_back(name + ".step", at::full({1}, static_cast<int64_t>(s.step()), at::TensorOptions().dtype(at::kLong)));
  }
  io::saveSafetensors(file, out, {{"format", "caig-adamw"}, {"step", std::to_string(impl_->step)}});
}

void Trainer::loadOptimizerState(const std::filesystem::path& file) {
  const auto st = io::SafetensorsFile::open(file);
  std::vector<std::string> problems;
  std::set<std::string> known;
  for (const auto& [name, t] : impl_->params) {
    for (const char* part : {".exp_avg", ".exp_avg_sq", ".step"}) {
      const std::string key = name + part;
      known.insert(key);
      if (!st.contains(key)) {
        problems.push_back("missing " + key);
        continue;
      }
      const std::vector<int64_t> want = std::string(part) == ".step" ? std::vector<int64_t>{1} : t.sizes().vec();
      if (st.info(key).shape != want) problems.push_back("shape of " + key + " differs from the parameter's");
    }
  }
  for (const auto& info : st.tensors())
    if (!known.count(info.name)) problems.push_back("unexpected " + info.name);
  const auto meta = st.metadata().find("step");
  if (meta == st.metadata().end()) problems.push_back("no \"step\" metadata");
  if (!problems.empty()) {
    std::string msg = file.string() + ": optimizer state does not match the trainable tensors:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw io::FormatError(msg);
  }
  auto& state = impl_->optimizer->state();
  for (const auto& [name, t] : impl_->params) {
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(st.tensor(name + ".step").to(at::kLong).item<int64_t>());
    s->exp_avg(st.tensor(name + ".exp_avg").to(t.device(), t.scalar_type()).clone());
    s->exp_avg_sq(st.tensor(name + ".exp_avg_sq").to(t.device(), t.scalar_type()).clone());
    state[stateKey<Impl::Key>(t)] = std::move(s);
  }
  impl_->step = std::stoll(meta->second);
}

// ---- the loop -----------------------------------------------------------------------------

int64_t trainingSteps(const TrainingJob& job, int64_t gradientAccumulation) {
  if (job.records < 1 || job.batchSize < 1 || gradientAccumulation < 1) return 0;
  const int64_t micro = (job.records + job.batchSize - 1) / job.batchSize;
  return job.epochs * ((micro + gradientAccumulation - 1) / gradientAccumulation);
}

std::vector<int64_t> epochOrder(int64_t records, uint64_t seed, int64_t epoch) {
  at::Generator gen = at::detail::createCPUGenerator(seed * 7919u + static_cast<uint64_t>(epoch));
  const at::Tensor order = at::randperm(records, gen, at::TensorOptions().dtype(at::kLong));
  return std::vector<int64_t>(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + records);
}

namespace {

std::filesystem::path saveCheckpoint(const Trainer& trainer, const TrainingJob& job, const std::filesystem::path& root,
                                     int64_t cursor) {
  const auto dir = root / ("checkpoint-" + std::to_string(trainer.step()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw io::FileError("cannot create checkpoint folder '" + dir.string() + "': " + ec.message());
  if (job.saveWeights) job.saveWeights(dir);
  trainer.saveOptimizerState(dir / "optimizer.safetensors");
  const nlohmann::json state = {{"step", trainer.step()},
                                {"cursor", cursor},
                                {"seed", trainer.options().seed},
                                {"records", job.records},
                                {"batch_size", job.batchSize},
                                {"epochs", job.epochs},
                                {"gradient_accumulation", trainer.options().gradientAccumulation}};
  // Written last: a folder without it is an interrupted checkpoint and is never resumed from.
  io::writeFileAtomically(dir / "trainer_state.json", state.dump(2) + "\n");
  return dir;
}

}  // namespace

std::optional<std::filesystem::path> latestCheckpoint(const std::filesystem::path& checkpointDir) {
  std::optional<std::filesystem::path> best;
  int64_t bestStep = -1;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(checkpointDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || !std::filesystem::exists(entry.path() / "trainer_state.json")) continue;
    try {
      const int64_t step = std::stoll(name.substr(11));
      if (step > bestStep) bestStep = step, best = entry.path();
    } catch (const std::exception&) {
    }
  }
  return best;
}

TrainingRunResult runTraining(Trainer& trainer, const TrainingJob& job, const TrainingRunOptions& options) {
  if (!job.lossOn) throw std::invalid_argument("training job without a loss");
  if (job.records < 1 || job.batchSize < 1 || job.epochs < 1) throw std::invalid_argument("empty training job");
  TrainingRunResult result;
  int64_t cursor = 0;
  DataParallel* parallel = options.parallel;
  const bool main = !parallel || parallel->isMain();
  if (!options.resumeFrom.empty() && main) {
    const auto statePath = options.resumeFrom / "trainer_state.json";
    const auto state = io::readJsonFile(statePath);
    try {
      cursor = state.at("cursor").get<int64_t>();
      if (state.at("records").get<int64_t>() != job.records || state.at("batch_size").get<int64_t>() != job.batchSize ||
          state.at("seed").get<uint64_t>() != trainer.options().seed)
        throw io::FormatError("the checkpoint was made for another dataset, batch size or seed");
    } catch (const nlohmann::json::exception& e) {
      throw io::FormatError(statePath.string() + ": " + e.what());
    }
    if (job.loadWeights) job.loadWeights(options.resumeFrom);
    trainer.loadOptimizerState(options.resumeFrom / "optimizer.safetensors");
  }
  if (parallel) {
    // Everyone starts from rank 0's state (its checkpoint, when resuming) and cursor.
    trainer.setDataParallel(parallel);
    trainer.broadcastState(*parallel);
    std::vector<at::Tensor> c{at::full({1}, cursor, at::TensorOptions().dtype(at::kLong))};
    parallel->broadcast(c);
    cursor = c.front().item<int64_t>();
  }
  std::unique_ptr<JsonLinesLog> log;
  if (!options.logFile.empty() && main) log = std::make_unique<JsonLinesLog>(options.logFile);
  const int64_t total = job.records * job.epochs;
  const int64_t accumulation = trainer.options().gradientAccumulation;
  int64_t orderEpoch = -1;
  std::vector<int64_t> order;
  auto checkpoint = [&] {
    if (options.checkpointDir.empty()) return;
    if (main) {
      result.lastCheckpoint = saveCheckpoint(trainer, job, options.checkpointDir, cursor);
    } else {
      result.lastCheckpoint = options.checkpointDir / ("checkpoint-" + std::to_string(trainer.step()));
    }
  };
  bool stopped = false;
  while (cursor < total) {
    bool cancel = options.cancel && options.cancel->load();
    if (parallel) cancel = parallel->anyTrue(cancel);  // every rank stops at the same step
    if (cancel) {
      result.cancelled = true;
      break;
    }
    if (options.stopAfterSteps >= 0 && trainer.step() >= options.stopAfterSteps) {
      stopped = true;
      break;
    }
    const int64_t epoch = cursor / job.records;
    if (epoch != orderEpoch) order = epochOrder(job.records, trainer.options().seed, epoch), orderEpoch = epoch;
    // This step's micro-batches, never past the epoch's end.
    std::vector<std::vector<int64_t>> batches;
    int64_t offset = cursor % job.records;
    for (int64_t k = 0; k < accumulation && offset < job.records; ++k) {
      const int64_t end = std::min(offset + job.batchSize, job.records);
      batches.emplace_back(order.begin() + offset, order.begin() + end);
      offset = end;
    }
    StepReport report = trainer.trainStep(
        [&](int64_t k) {
          const auto& batch = batches[static_cast<std::size_t>(k)];
          if (!job.isLocal) return job.lossOn(batch);
          std::vector<int64_t> local;
          for (const int64_t i : batch)
            if (job.isLocal(i)) local.push_back(i);
          if (local.empty()) return MicroBatch{};
          MicroBatch mb = job.lossOn(local);
          // This rank's share of the micro-batch mean: the ranks' sum is one process's loss.
          mb.loss = mb.loss * (static_cast<double>(local.size()) / static_cast<double>(batch.size()));
          return mb;
        },
        static_cast<int64_t>(batches.size()));
    for (const auto& b : batches) cursor += static_cast<int64_t>(b.size());
    result.reports.push_back(report);
    if (log)
      log->write({{"step", report.step},
                  {"loss", report.loss},
                  {"lr", report.learningRate},
                  {"tokens_per_s", report.tokensPerSecond},
                  {"grad_norm", report.gradNorm},
                  {"cursor", cursor}});
    if (options.onStep) options.onStep(report);
    if (options.checkpointEvery > 0 && trainer.step() % options.checkpointEvery == 0) checkpoint();
  }
  result.finished = cursor >= total;
  if ((result.finished || result.cancelled || stopped) &&
      (result.lastCheckpoint.empty() || result.lastCheckpoint.filename() != "checkpoint-" + std::to_string(trainer.step())))
    checkpoint();
  result.steps = trainer.step();
  result.cursor = cursor;
  return result;
}

}  // namespace caig
