#pragma once
// Progress on the terminal for the command line's long jobs, on stderr: a bar redrawn in place on a
// terminal, plain lines otherwise (logs, CI), so that results on stdout stay clean.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <opencv2/core.hpp>
#include <string>

namespace caig::cli {

// One line redrawn in place on a terminal: the whole job's bar, the variant and step, s/it from
// the recent steps and the time left. Without a terminal (a log file, CI), one line per variant.
class JobProgressBar {
 public:
  explicit JobProgressBar(int variants) : variants_(variants), tty_(isatty(fileno(stderr)) != 0) {}

  void step(int step, int steps, int variant) {
    const auto now = std::chrono::steady_clock::now();
    if (lastVariant_ != variant || step == 1) {
      variantStart_ = now;
    } else {
      const double dt = std::chrono::duration<double>(now - last_).count();
      secondsPerStep_ = secondsPerStep_ < 0 ? dt : 0.7 * secondsPerStep_ + 0.3 * dt;
    }
    last_ = now;
    lastVariant_ = variant;
    const double done = (variant + double(step) / steps) / variants_;
    const int remainingSteps = (variants_ - variant - 1) * steps + (steps - step);
    if (tty_) {
      const int width = 30;
      const int filled = static_cast<int>(done * width + 0.5);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(width, '.');
      std::fprintf(stderr, "\r[%s] %3.0f%%  variant %d/%d  step %d/%d", bar.c_str(), 100 * done, variant + 1, variants_,
                   step, steps);
      if (secondsPerStep_ > 0) {
        std::fprintf(stderr, "  %.2f s/it  %s left   ", secondsPerStep_, clock(secondsPerStep_ * remainingSteps).c_str());
      }
      if (step == steps && variant + 1 == variants_) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    } else if (step == steps) {
      std::fprintf(stderr, "variant %d/%d: %d steps in %.1f s\n", variant + 1, variants_, steps,
                   std::chrono::duration<double>(now - variantStart_).count());
    }
  }

  // Ends a bar cut short (cancelled, failed).
  void close() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  static std::string clock(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    return s >= 60 ? cv::format("%ldm%02lds", s / 60, s % 60) : cv::format("%lds", s);
  }

  int variants_;
  bool tty_;
  int lastVariant_ = -1;
  double secondsPerStep_ = -1;
  std::chrono::steady_clock::time_point last_, variantStart_;
};

// One progress line for done/total work (imports, training). On a terminal it redraws a bar with
// an ETA in place; otherwise it prints a plain line at every 10% so logs stay short.
class Progress {
 public:
  explicit Progress(std::string label)
      : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}
  ~Progress() { finish(); }

  void update(int done, int total, const std::string& note = {}) {
    if (total <= 0 || (done == 0 && !tty_)) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = done > 0 ? secs * (total - done) / done : 0.0;
    if (tty_) {
      constexpr int width = 30;
      const int filled = static_cast<int>(double(width) * done / total);
      std::fprintf(stderr, "\r%s [%s%s] %3d%% %d/%d ETA %.0fs %s\x1b[K", label_.c_str(), std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), 100 * done / total, done, total, eta, note.c_str());
      open_ = true;
    } else {
      const int decile = 10 * done / total;
      if (decile == lastDecile_ && done != total) return;
      lastDecile_ = decile;
      std::fprintf(stderr, "%s: %d/%d (%d%%), %.1f s elapsed, ETA %.0f s %s\n", label_.c_str(), done, total,
                   100 * done / total, secs, eta, note.c_str());
    }
    std::fflush(stderr);
  }
  // A line that must not be overwritten (e.g. the loss every N steps).
  void line(const std::string& text) {
    finish();
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  void finish() {
    if (open_) std::fprintf(stderr, "\n");
    open_ = false;
  }

 private:
  std::string label_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  bool open_ = false;
  int lastDecile_ = -1;
};

}  // namespace caig::cli
