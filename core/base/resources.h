#pragma once
// Where the studio's data files (styles, templates, demo products) are: $CAIG_RESOURCE_DIR,
// else the source tree's resources/ for a program run from its build tree, else
// <prefix>/share/caig-studio beside the binary (installed or unpacked from the package).

#include <filesystem>

namespace caig {

std::filesystem::path resourceDir();
std::filesystem::path demoProductShot();  // resources/demo/perfume.png

}  // namespace caig
