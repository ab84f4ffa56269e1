// The process managers a pool may have (PHP-FPM's pm): the configuration
// names one (config/schema.h), the supervisor runs it
// (supervisor/process_manager.h). One enum for both.
#pragma once

namespace wsgi_fpm {

enum class ProcessManagerMode { Static, Ondemand, Dynamic };

// "static" | "ondemand" | "dynamic", as the configuration spells them.
inline const char* to_string(ProcessManagerMode mode) {
  switch (mode) {
    case ProcessManagerMode::Ondemand: return "ondemand";
    case ProcessManagerMode::Dynamic: return "dynamic";
    case ProcessManagerMode::Static: break;
  }
  return "static";
}

}  // namespace wsgi_fpm
