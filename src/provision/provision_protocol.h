/* Names shared by the provision server and its client
 * (proto/asylo/provision.proto). */
#ifndef ASYLO_PROVISION_PROVISION_PROTOCOL_H
#define ASYLO_PROVISION_PROVISION_PROTOCOL_H

#define ASYLO__PROVISION_METHOD "/asylo.remote.RemoteProxyProvisionServer/Provision"
#define ASYLO__RELEASE_METHOD "/asylo.remote.RemoteProxyProvisionServer/Release"
#define ASYLO__PROVISION_DEFAULT_PORT 4321

#endif
