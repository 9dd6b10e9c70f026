"""The conductor's peer service: remote calls and remote signals over the network layer.

Holochain calls this layer ``holochain_p2p``: :mod:`zomehost.network` moves signed agent
infos and encrypted frames between conductors and knows nothing of cells or zomes; this
package maps our cells onto it and runs what peers ask for through the conductor's call
pipeline (:mod:`zomehost.p2p.service`).
"""
