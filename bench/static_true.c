/* The baseline of the load bench: a static binary that exits at once. */
int main(void) {
    return 0;
}
