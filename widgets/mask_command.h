#pragma once
// One brush stroke or one cutout run as an undo step: the product's mask before and after.

#include <QImage>
#include <QUndoCommand>

#include "widgets/main_window.h"

namespace caig::ui {

class MaskCommand : public QUndoCommand {
 public:
  MaskCommand(MainWindow* window, qint64 productId, QImage before, QImage after, QString engine, const QString& text)
      : QUndoCommand(text), window_(window), productId_(productId), before_(std::move(before)),
        after_(std::move(after)), engine_(std::move(engine)) {}
  void undo() override { window_->applyMask(productId_, before_, QStringLiteral("painted")); }
  void redo() override {
    if (first_) {  // the mask is already applied when the command is pushed
      first_ = false;
      return;
    }
    window_->applyMask(productId_, after_, engine_);
  }

 private:
  MainWindow* window_;
  qint64 productId_;
  QImage before_, after_;
  QString engine_;
  bool first_ = true;
};

}  // namespace caig::ui
