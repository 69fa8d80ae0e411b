#include "widgets/gpu_hud.h"

#include <imgui.h>
#include <imgui_internal.h>  // ImGuiWindow::ContentSizeIdeal, to size the widget
#include <backends/imgui_impl_opengl3.h>

#include <QEvent>
#include <QGuiApplication>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOffscreenSurface>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QResizeEvent>
#include <QVBoxLayout>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace caig::ui {

void applyDeviceInfo(HudStats& stats, const DeviceInfo& info) {
  stats.device = info.device;
  stats.deviceName = info.name;
  stats.cuda = info.cuda;
  stats.vramUsed = info.vramUsed;
  stats.vramFree = info.vramFree;
  stats.vramTotal = info.vramTotal;
  stats.allocatorStats = info.allocatorStats;
  stats.allocatorReserved = info.allocatorReserved;
  stats.allocatorAllocated = info.allocatorAllocated;
  stats.cpuThreads = info.cpuThreads;
  stats.processRss = info.processRss;
}

void StepMeter::step(double nowSeconds) {
  if (last_ >= 0 && nowSeconds > last_) {
    stepSeconds_ = nowSeconds - last_;
    const double rate = 1.0 / stepSeconds_;
    rate_ = rate_ > 0 ? 0.7 * rate_ + 0.3 * rate : rate;
  }
  last_ = nowSeconds;
}

QStringList hudLines(const HudStats& s) {
  const auto bytes = [](uint64_t b) { return QString::fromStdString(formatBytes(b)); };
  QStringList lines;
  lines << (s.cuda ? QStringLiteral("Device: %1 (%2)").arg(QString::fromStdString(s.deviceName),
                                                            QString::fromStdString(s.device))
                   : QStringLiteral("Device: CPU, %1 threads").arg(s.cpuThreads));
  lines << (s.cuda ? QStringLiteral("VRAM: %1 used, %2 free").arg(bytes(s.vramUsed), bytes(s.vramFree))
                   : QStringLiteral("VRAM: CPU (no GPU)"));
  lines << QStringLiteral("Job: %1").arg(s.jobName.empty() ? QStringLiteral("idle") : QString::fromStdString(s.jobName));
  lines << (s.stepSeconds > 0 ? QStringLiteral("Step: %1 ms, %2 it/s")
                                    .arg(s.stepSeconds * 1000.0, 0, 'f', 0)
                                    .arg(s.itPerSecond, 0, 'f', 2)
                              : QStringLiteral("Step: -"));
  lines << QStringLiteral("Queue: %1 waiting").arg(s.queueLength);
  lines << (s.cpuFallback ? QStringLiteral("CPU fallback: yes%1")
                                .arg(s.fallbackReason.empty() ? QString()
                                                              : " (" + QString::fromStdString(s.fallbackReason) + ")")
                          : QStringLiteral("CPU fallback: no"));
  lines << QStringLiteral("RSS: %1").arg(bytes(s.processRss));
  return lines;
}

// ---------------------------------------------------------------------------------------------
// HudGlView

namespace {

// Our KeysDown[] indices are the ImGuiKey values themselves (all < 512 in 1.86).
int imguiKey(int qtKey) {
  switch (qtKey) {
    case Qt::Key_Tab: return ImGuiKey_Tab;
    case Qt::Key_Left: return ImGuiKey_LeftArrow;
    case Qt::Key_Right: return ImGuiKey_RightArrow;
    case Qt::Key_Up: return ImGuiKey_UpArrow;
    case Qt::Key_Down: return ImGuiKey_DownArrow;
    case Qt::Key_PageUp: return ImGuiKey_PageUp;
    case Qt::Key_PageDown: return ImGuiKey_PageDown;
    case Qt::Key_Home: return ImGuiKey_Home;
    case Qt::Key_End: return ImGuiKey_End;
    case Qt::Key_Insert: return ImGuiKey_Insert;
    case Qt::Key_Delete: return ImGuiKey_Delete;
    case Qt::Key_Backspace: return ImGuiKey_Backspace;
    case Qt::Key_Space: return ImGuiKey_Space;
    case Qt::Key_Return: return ImGuiKey_Enter;
    case Qt::Key_Enter: return ImGuiKey_KeyPadEnter;
    case Qt::Key_Escape: return ImGuiKey_Escape;
    case Qt::Key_A: return ImGuiKey_A;
    case Qt::Key_C: return ImGuiKey_C;
    case Qt::Key_V: return ImGuiKey_V;
    case Qt::Key_X: return ImGuiKey_X;
    case Qt::Key_Y: return ImGuiKey_Y;
    case Qt::Key_Z: return ImGuiKey_Z;
    default: return -1;
  }
}

int imguiButton(Qt::MouseButton button) {
  switch (button) {
    case Qt::LeftButton: return 0;
    case Qt::RightButton: return 1;
    case Qt::MiddleButton: return 2;
    case Qt::BackButton: return 3;
    case Qt::ForwardButton: return 4;
    default: return -1;
  }
}

// Makes `context` current for the scope and restores the previous one (several views coexist).
class ImGuiScope {
 public:
  explicit ImGuiScope(ImGuiContext* context) : previous_(ImGui::GetCurrentContext()) { ImGui::SetCurrentContext(context); }
  ~ImGuiScope() { ImGui::SetCurrentContext(previous_); }
  ImGuiScope(const ImGuiScope&) = delete;
  ImGuiScope& operator=(const ImGuiScope&) = delete;

 private:
  ImGuiContext* previous_;
};

}  // namespace

HudGlView::HudGlView(QWidget* parent) : QOpenGLWidget(parent) {
  QSurfaceFormat format = QSurfaceFormat::defaultFormat();
  format.setAlphaBufferSize(8);  // translucent over the canvas
  setFormat(format);
  setAttribute(Qt::WA_AlwaysStackOnTop);
  setMouseTracking(true);
  setFocusPolicy(Qt::ClickFocus);

  IMGUI_CHECKVERSION();
  ImGuiContext* previous = ImGui::GetCurrentContext();
  imgui_ = ImGui::CreateContext();
  ImGui::SetCurrentContext(imgui_);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // no imgui.ini next to the user's files
  io.LogFilename = nullptr;
  io.BackendPlatformName = "caig_qt";
  for (int k = 0; k < ImGuiKey_COUNT; ++k) io.KeyMap[k] = k;
  ImGui::StyleColorsDark();
  ImGui::GetStyle().WindowRounding = 4.0f;
  ImGui::SetCurrentContext(previous);

  repaint_.setInterval(100);  // 10 frames/s: live figures, little CPU
  connect(&repaint_, &QTimer::timeout, this, qOverload<>(&QWidget::update));
}

HudGlView::~HudGlView() {
  if (backendReady_ && context()) {
    makeCurrent();
    ImGuiScope scope(imgui_);
    ImGui_ImplOpenGL3_Shutdown();
    doneCurrent();
  }
  ImGui::DestroyContext(imgui_);  // restores no context if it was current
}

void HudGlView::setStats(const HudStats& stats) {
  stats_ = stats;
  update();
}

void HudGlView::initializeGL() {
  QOpenGLContext* gl = context();
  if (!gl || !gl->isValid()) {
    failed_ = true;
    Q_EMIT glFailed(QStringLiteral("no valid OpenGL context"));
    return;
  }
  const QSurfaceFormat f = gl->format();
  const bool es = gl->isOpenGLES();
  if (f.majorVersion() < 3) {
    failed_ = true;
    Q_EMIT glFailed(QStringLiteral("OpenGL %1.%2 is older than 3.0").arg(f.majorVersion()).arg(f.minorVersion()));
    return;
  }
  ImGuiScope scope(imgui_);
  // GLSL 1.30 runs on GL 3.0+ compatibility and core contexts; ES 3.0 needs "#version 300 es".
  backendReady_ = ImGui_ImplOpenGL3_Init(es ? "#version 300 es" : "#version 130");
  if (!backendReady_) {
    failed_ = true;
    Q_EMIT glFailed(QStringLiteral("the Dear ImGui OpenGL 3 backend did not start"));
    return;
  }
  clock_.start();
}

void HudGlView::paintGL() {
  QOpenGLFunctions* f = context()->functions();
  f->glClearColor(0, 0, 0, 0);
  f->glClear(GL_COLOR_BUFFER_BIT);
  if (failed_ || !backendReady_) return;
  ImGuiScope scope(imgui_);
  ImGuiIO& io = ImGui::GetIO();
  const float dpr = static_cast<float>(devicePixelRatioF());
  io.DisplaySize = ImVec2(static_cast<float>(width()), static_cast<float>(height()));
  io.DisplayFramebufferScale = ImVec2(dpr, dpr);
  const qint64 ns = clock_.nsecsElapsed();
  clock_.restart();
  io.DeltaTime = std::max(1e-4f, static_cast<float>(ns) * 1e-9f);

  ImGui_ImplOpenGL3_NewFrame();
  ImGui::NewFrame();
  // The press has now been seen by a frame: a release held back for it can go through.
  for (size_t b = 0; b < pressedSinceFrame_.size(); ++b) pressedSinceFrame_[b] = false;
  drawHud();
  ImGui::Render();
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  for (size_t b = 0; b < releaseAfterFrame_.size(); ++b) {
    if (releaseAfterFrame_[b]) io.MouseDown[b] = releaseAfterFrame_[b] = false;
  }
  ++frames_;
}

void HudGlView::drawHud() {
  const QStringList lines = hudLines(stats_);
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowBgAlpha(0.78f);
  ImGui::Begin("GPU HUD", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing);
  for (int i = 0; i < lines.size(); ++i) {
    const QByteArray utf8 = lines[i].toUtf8();
    if (i == 5 && stats_.cpuFallback) {
      ImGui::TextColored(ImVec4(1.0f, 0.75f, 0.2f, 1.0f), "%s", utf8.constData());
    } else {
      ImGui::TextUnformatted(utf8.constData());
    }
    if (i == 1 && stats_.cuda && stats_.vramTotal > 0) {
      ImGui::ProgressBar(static_cast<float>(static_cast<double>(stats_.vramUsed) / static_cast<double>(stats_.vramTotal)),
                         ImVec2(220.0f, 0.0f));
    }
  }
  ImGui::Checkbox("Details", &showDetails_);
  const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
  detailsRect_ = QRect(QPoint(static_cast<int>(lo.x), static_cast<int>(lo.y)),
                       QPoint(static_cast<int>(hi.x) - 1, static_cast<int>(hi.y) - 1));
  if (showDetails_) {
    ImGui::Separator();
    ImGui::Text("CPU threads: %d", stats_.cpuThreads);
    if (stats_.allocatorStats) {
      ImGui::Text("Allocator: %s reserved, %s allocated", formatBytes(stats_.allocatorReserved).c_str(),
                  formatBytes(stats_.allocatorAllocated).c_str());
    } else {
      ImGui::TextUnformatted("Allocator: no CUDA caching allocator");
    }
    if (stats_.cuda) ImGui::Text("VRAM total: %s", formatBytes(stats_.vramTotal).c_str());
  }
  // What the window would take unclamped: AlwaysAutoResize clamps the window to the display, and
  // the display is this widget, which is sized from this very figure.
  const ImGuiWindow* window = ImGui::GetCurrentWindow();
  const ImVec2 padding = ImGui::GetStyle().WindowPadding;
  const float border = ImGui::GetStyle().WindowBorderSize;
  const ImVec2 size(window->ContentSizeIdeal.x + 2 * (padding.x + border), window->ContentSizeIdeal.y + 2 * padding.y);
  const bool measured = !ImGui::IsWindowAppearing() && window->ContentSizeIdeal.x > 0;
  ImGui::End();
  const QSize wanted(static_cast<int>(std::ceil(size.x)), static_cast<int>(std::ceil(size.y)));
  if (measured && wanted != contentSize_) {
    contentSize_ = wanted;
    // Queued: resizing the widget from inside paintGL would recreate its framebuffer mid-frame.
    QMetaObject::invokeMethod(this, [this, wanted] { Q_EMIT contentSizeChanged(wanted); }, Qt::QueuedConnection);
  }
}

void HudGlView::showEvent(QShowEvent* event) {
  QOpenGLWidget::showEvent(event);
  repaint_.start();
  // When the widget's own context cannot be created Qt only warns and never calls initializeGL:
  // notice it, so that the host shows the label instead of an empty rectangle.
  QTimer::singleShot(2000, this, [this] {
    if (isVisible() && !failed_ && !isValid() && frames_ == 0) {
      failed_ = true;
      Q_EMIT glFailed(QStringLiteral("the OpenGL context of the HUD could not be created"));
    }
  });
}

void HudGlView::hideEvent(QHideEvent* event) {
  repaint_.stop();
  QOpenGLWidget::hideEvent(event);
}

void HudGlView::mouseMoveEvent(QMouseEvent* event) {
  ImGuiScope scope(imgui_);
  const QPointF p = event->position();
  ImGui::GetIO().MousePos = ImVec2(static_cast<float>(p.x()), static_cast<float>(p.y()));
  update();
}

void HudGlView::mousePressEvent(QMouseEvent* event) {
  const int b = imguiButton(event->button());
  if (b < 0) return QOpenGLWidget::mousePressEvent(event);
  ImGuiScope scope(imgui_);
  ImGuiIO& io = ImGui::GetIO();
  const QPointF p = event->position();
  io.MousePos = ImVec2(static_cast<float>(p.x()), static_cast<float>(p.y()));
  io.MouseDown[b] = true;
  pressedSinceFrame_[static_cast<size_t>(b)] = true;
  releaseAfterFrame_[static_cast<size_t>(b)] = false;
  event->accept();
  update();
}

void HudGlView::mouseReleaseEvent(QMouseEvent* event) {
  const int b = imguiButton(event->button());
  if (b < 0) return QOpenGLWidget::mouseReleaseEvent(event);
  ImGuiScope scope(imgui_);
  if (pressedSinceFrame_[static_cast<size_t>(b)]) {
    releaseAfterFrame_[static_cast<size_t>(b)] = true;  // let one frame see the button down
  } else {
    ImGui::GetIO().MouseDown[b] = false;
  }
  event->accept();
  update();
}

void HudGlView::wheelEvent(QWheelEvent* event) {
  ImGuiScope scope(imgui_);
  ImGuiIO& io = ImGui::GetIO();
  io.MouseWheel += static_cast<float>(event->angleDelta().y()) / 120.0f;
  io.MouseWheelH += static_cast<float>(event->angleDelta().x()) / 120.0f;
  event->accept();
  update();
}

void HudGlView::updateModifiers(Qt::KeyboardModifiers mods) {
  ImGuiIO& io = ImGui::GetIO();
  io.KeyCtrl = mods & Qt::ControlModifier;
  io.KeyShift = mods & Qt::ShiftModifier;
  io.KeyAlt = mods & Qt::AltModifier;
  io.KeySuper = mods & Qt::MetaModifier;
}

void HudGlView::key(QKeyEvent* event, bool down) {
  ImGuiScope scope(imgui_);
  ImGuiIO& io = ImGui::GetIO();
  updateModifiers(event->modifiers());
  if (const int k = imguiKey(event->key()); k >= 0) io.KeysDown[k] = down;
  if (down && !event->text().isEmpty() && event->text().at(0).isPrint()) {
    io.AddInputCharactersUTF8(event->text().toUtf8().constData());
  }
  update();
}

void HudGlView::keyPressEvent(QKeyEvent* event) { key(event, true); }
void HudGlView::keyReleaseEvent(QKeyEvent* event) { key(event, false); }

void HudGlView::focusInEvent(QFocusEvent* event) {
  ImGuiScope scope(imgui_);
  ImGui::GetIO().AddFocusEvent(true);
  QOpenGLWidget::focusInEvent(event);
}

void HudGlView::focusOutEvent(QFocusEvent* event) {
  ImGuiScope scope(imgui_);
  ImGui::GetIO().AddFocusEvent(false);
  QOpenGLWidget::focusOutEvent(event);
}

void HudGlView::leaveEvent(QEvent* event) {
  ImGuiScope scope(imgui_);
  ImGui::GetIO().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);  // no hover highlight left behind
  QOpenGLWidget::leaveEvent(event);
}

// ---------------------------------------------------------------------------------------------
// GpuHud

bool GpuHud::openGlUsable(QString* why) {
  const auto fail = [why](const QString& reason) {
    if (why) *why = reason;
    return false;
  };
  if (qEnvironmentVariableIntValue("CAIG_HUD_NO_GL") != 0) return fail(QStringLiteral("CAIG_HUD_NO_GL is set"));
  // QOpenGLWidget crashes on the offscreen and minimal platforms even where a context is created.
  const QString platform = QGuiApplication::platformName();
  if (platform == QLatin1String("offscreen") || platform == QLatin1String("minimal")) {
    return fail(QStringLiteral("the %1 platform has no OpenGL widgets").arg(platform));
  }
  QOpenGLContext probe;
  if (!probe.create()) return fail(QStringLiteral("no OpenGL context can be created"));
  const QSurfaceFormat f = probe.format();
  if (f.majorVersion() < 3) {
    return fail(QStringLiteral("OpenGL %1.%2 is older than 3.0").arg(f.majorVersion()).arg(f.minorVersion()));
  }
  return true;
}

GpuHud::GpuHud(QWidget* parent, Mode mode) : QWidget(parent) {
  setObjectName(QStringLiteral("gpuHud"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  QString why;
  if (mode == Mode::ForceFallback) {
    useFallback(QStringLiteral("fallback requested"));
  } else if (!openGlUsable(&why)) {
    useFallback(why);
  } else {
    view_ = new HudGlView(this);
    layout->addWidget(view_);
    resize(260, 170);
    connect(view_, &HudGlView::glFailed, this, [this](const QString& reason) {
      // Called from initializeGL: swap the view out once control is back in the event loop.
      QMetaObject::invokeMethod(this, [this, reason] { useFallback(reason); }, Qt::QueuedConnection);
    });
    connect(view_, &HudGlView::contentSizeChanged, this, [this](QSize size) {
      resize(size.expandedTo(QSize(40, 20)));
      placeInCorner();
    });
  }
}

void GpuHud::useFallback(const QString& reason) {
  fallbackReason_ = reason;
  if (view_) {
    view_->hide();
    view_->deleteLater();
    view_ = nullptr;
  }
  if (!label_) {
    label_ = new QLabel(this);
    label_->setObjectName(QStringLiteral("gpuHudLabel"));
    label_->setTextFormat(Qt::PlainText);
    label_->setStyleSheet(QStringLiteral(
        "QLabel { background: rgba(30, 30, 34, 215); color: #e8e8e8; border-radius: 4px; padding: 6px;"
        " font-family: monospace; }"));
    label_->setToolTip(QStringLiteral("GPU HUD without OpenGL: ") + reason);
    layout()->addWidget(label_);
  }
  label_->setText(text());
  label_->adjustSize();
  resize(label_->sizeHint());
  placeInCorner();
}

void GpuHud::setStats(const HudStats& stats) {
  stats_ = stats;
  if (poll_) applyDeviceInfo(stats_, device_);
  push();
}

void GpuHud::startDevicePolling(int intervalMs) {
  if (!poll_) {
    poll_ = new QTimer(this);
    connect(poll_, &QTimer::timeout, this, [this] {
      if (isVisible()) pollDevice();
    });
  }
  poll_->start(intervalMs);
  pollDevice();
}

void GpuHud::pollDevice() {
  device_ = queryDeviceInfo();
  applyDeviceInfo(stats_, device_);
  push();
}

void GpuHud::push() {
  if (view_) view_->setStats(stats_);
  if (label_) {
    label_->setText(text());
    resize(label_->sizeHint());
    placeInCorner();
  }
}

void GpuHud::attachTo(QWidget* canvas) {
  if (canvas_) canvas_->removeEventFilter(this);
  canvas_ = canvas;
  setParent(canvas);
  canvas->installEventFilter(this);
  placeInCorner();
  raise();
}

bool GpuHud::eventFilter(QObject* watched, QEvent* event) {
  if (watched == canvas_ && event->type() == QEvent::Resize) placeInCorner();
  return QWidget::eventFilter(watched, event);
}

void GpuHud::placeInCorner() {
  if (!canvas_ || parentWidget() != canvas_) return;
  constexpr int kMargin = 8;
  move(std::max(0, canvas_->width() - width() - kMargin), kMargin);
}

}  // namespace caig::ui
