/* A valid shared object that is not an enclave: no asylo_enclave_abi. */
int not_an_enclave_function(void);
int not_an_enclave_function(void) {
    return 1;
}
