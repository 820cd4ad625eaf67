/* An ordinary program: built as a PIE and as a classic executable, both of
 * which the loader must refuse as enclave images. */
int main(void) {
    return 0;
}
