#pragma once
// The GPU HUD: device, VRAM, the running job's step time and it/s, queue length, CPU fallback
// and process memory, drawn with Dear ImGui (1.86, OpenGL 3 backend) in a QOpenGLWidget.
//
// The product canvas is a plain QWidget (QPainter), so the HUD is not drawn inside a canvas GL
// context: attachTo() makes it a translucent child overlaid on the canvas's top-right corner
// (WA_AlwaysStackOnTop, alpha framebuffer). Where OpenGL is missing, too old (< 3.0 / ES 3.0) or
// fails at initialisation, the HUD shows the same text in a QLabel instead; CAIG_HUD_NO_GL=1 or
// Mode::ForceFallback choose that path on purpose.
//
// Qt has no Dear ImGui backend, so HudGlView bridges it: DisplaySize / DisplayFramebufferScale
// from the widget and its devicePixelRatio, DeltaTime from a QElapsedTimer, mouse, wheel, keys
// and text from Qt events (1.86 has no io.Add*Event queue: io.MousePos/MouseDown/KeysDown are
// written, with a release held back one frame so that a click within one frame is seen), a
// QTimer repainting while visible. Each view owns its ImGuiContext.

#include <QElapsedTimer>
#include <QLabel>
#include <QOpenGLWidget>
#include <QPointer>
#include <QTimer>
#include <array>
#include <cstdint>
#include <string>

#include "models/device_info.h"

struct ImGuiContext;

namespace caig::ui {

struct HudStats {
  std::string device = "cpu";  // what the engines run on: "cuda:0" or "cpu"
  std::string deviceName = "CPU";
  bool cuda = false;
  uint64_t vramUsed = 0, vramFree = 0, vramTotal = 0;
  bool allocatorStats = false;
  uint64_t allocatorReserved = 0, allocatorAllocated = 0;
  int cpuThreads = 0;
  std::string jobName;      // empty: idle
  double stepSeconds = 0;   // duration of the last step; 0 when none ran yet
  double itPerSecond = 0;
  int queueLength = 0;      // jobs waiting behind the current one
  bool cpuFallback = false; // a neural engine asked for CUDA and runs on the CPU
  std::string fallbackReason;
  uint64_t processRss = 0;
};

// Step time and it/s from the moments a job reports progress: the last step's duration and a
// smoothed rate (exponential moving average, so one slow step does not make the figure jump).
class StepMeter {
 public:
  void reset() { last_ = -1; stepSeconds_ = 0; rate_ = 0; }
  // A step finished at `nowSeconds` (any monotonic clock, e.g. QElapsedTimer / 1e3).
  void step(double nowSeconds);
  double stepSeconds() const { return stepSeconds_; }
  double itPerSecond() const { return rate_; }

 private:
  double last_ = -1;
  double stepSeconds_ = 0;
  double rate_ = 0;
};

// The device fields of a HudStats from queryDeviceInfo(); job fields left as they are.
void applyDeviceInfo(HudStats& stats, const DeviceInfo& info);

// The HUD's lines, one per row: what both the ImGui view and the fallback label show.
QStringList hudLines(const HudStats& stats);

// The ImGui view. Emits glFailed when the context is invalid or the backend cannot start.
class HudGlView : public QOpenGLWidget {
  Q_OBJECT
 public:
  explicit HudGlView(QWidget* parent = nullptr);
  ~HudGlView() override;

  void setStats(const HudStats& stats);
  bool detailsShown() const { return showDetails_; }
  // Where the "Details" checkbox was last drawn (widget coordinates; empty before a frame).
  QRect detailsToggleRect() const { return detailsRect_; }
  int framesDrawn() const { return frames_; }
  QSize contentSize() const { return contentSize_; }

 Q_SIGNALS:
  void glFailed(const QString& reason);
  void contentSizeChanged(QSize size);

 protected:
  void initializeGL() override;
  void paintGL() override;
  void showEvent(QShowEvent* event) override;
  void hideEvent(QHideEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void keyReleaseEvent(QKeyEvent* event) override;
  void focusInEvent(QFocusEvent* event) override;
  void focusOutEvent(QFocusEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  void updateModifiers(Qt::KeyboardModifiers mods);
  void key(QKeyEvent* event, bool down);
  void drawHud();

  ImGuiContext* imgui_ = nullptr;
  bool backendReady_ = false;
  bool failed_ = false;
  HudStats stats_;
  bool showDetails_ = false;
  QRect detailsRect_;
  QSize contentSize_;
  int frames_ = 0;
  QElapsedTimer clock_;
  QTimer repaint_;
  std::array<bool, 5> pressedSinceFrame_{};  // pressed after the last NewFrame
  std::array<bool, 5> releaseAfterFrame_{};  // released before a frame saw the press
};

class GpuHud : public QWidget {
  Q_OBJECT
 public:
  enum class Mode { Auto, ForceFallback };
  explicit GpuHud(QWidget* parent = nullptr, Mode mode = Mode::Auto);

  // Replaces the figures; while device polling is on, the device fields stay the polled ones.
  void setStats(const HudStats& stats);
  const HudStats& stats() const { return stats_; }
  // Refreshes the device fields (VRAM, RSS, allocator) from queryDeviceInfo() every
  // `intervalMs` while the HUD is visible, so the feeder only sets the job fields.
  void startDevicePolling(int intervalMs = 1000);
  QString text() const { return hudLines(stats_).join('\n'); }

  bool usingImGui() const { return view_ != nullptr; }
  QString fallbackReason() const { return fallbackReason_; }
  HudGlView* glView() const { return view_; }
  QLabel* fallbackLabel() const { return label_; }

  // Overlays the HUD on `canvas`'s top-right corner and keeps it there on resize.
  void attachTo(QWidget* canvas);

  // Whether an OpenGL >= 3.0 (or ES >= 3.0) context can be created here; `why` says why not.
  static bool openGlUsable(QString* why = nullptr);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void useFallback(const QString& reason);
  void placeInCorner();

  void pollDevice();
  void push();

  HudStats stats_;
  QTimer* poll_ = nullptr;
  DeviceInfo device_;
  HudGlView* view_ = nullptr;
  QLabel* label_ = nullptr;
  QString fallbackReason_;
  QPointer<QWidget> canvas_;
};

}  // namespace caig::ui
