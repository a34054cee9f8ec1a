/* ch3_fork - 3.1.2 os.fork(): one call, two returns; the child changes its own copy of the data */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int w = 100;
	pid_t pid;

	printf("before fork: PID=%d, w=%d\n", (int)getpid(), w);
	fflush(stdout); /* else the buffered line would be printed twice */
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) { /* fork returned 0: we are the child */
		w = 200;
		printf("child: PID=%d, PPID=%d, w=%d\n", (int)getpid(),
		       (int)getppid(), w);
		printf("child: work done\n");
		fflush(stdout);
		_exit(0); /* never return into the parent's code */
	}
	/* fork returned the child's pid: we are the parent */
	printf("parent: PID=%d, created child PID=%d\n", (int)getpid(), (int)pid);
	printf("parent: w=%d\n", w);
	while (waitpid(pid, NULL, 0) < 0) /* block until the child ends */
		;
	printf("parent: the child has ended\n");
	return 0;
}
