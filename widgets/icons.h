#pragma once
// The studio's own line icons (resources/icons/*.svg, compiled in under ":/icons"). They are drawn
// in one slate colour for light backgrounds; on a dark palette they are re-rendered in the
// palette's text colour so that they stay visible. Torch-free.

#include <QIcon>
#include <QString>
#include <QStringList>

class QAbstractButton;
class QAction;
class QObject;

namespace caig::ui {

// The icon ":/icons/<name>.svg", rendered sharp at 1x and 2x and tinted for the current palette.
// An unknown name gives an empty QIcon and a warning.
QIcon icon(const QString& name);
// Every icon name bundled with the studio.
QStringList iconNames();

// Give an action or a button its icon and remember the name, so that refreshIcons() can redraw it
// when the theme changes.
void setIcon(QAction* action, const QString& name);
void setIcon(QAbstractButton* button, const QString& name);
// Redraws the remembered icons of every action and button under `root` (all top-level windows
// when null) for the current palette.
void refreshIcons(QObject* root = nullptr);

}  // namespace caig::ui
