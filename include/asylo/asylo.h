/* asylo/asylo.h: everything a host program needs. */
#ifndef ASYLO_ASYLO_H
#define ASYLO_ASYLO_H

#include "asylo/buffer.h"
#include "asylo/client.h"
#include "asylo/log.h"
#include "asylo/manager.h"
#include "asylo/process.h"
#include "asylo/remote.h"
#include "asylo/selectors.h"
#include "asylo/status.h"
#include "asylo/version.h"

#endif
